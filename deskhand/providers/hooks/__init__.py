"""deskhand.providers.hooks"""
