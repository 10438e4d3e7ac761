"""The end-to-end demo: a local Zendesk, deskhand, a knowledge base and a dozen real-looking tickets."""
