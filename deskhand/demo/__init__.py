"""The end-to-end demo: every simulated helpdesk, deskhand, a knowledge base and a dozen real-looking tickets."""
