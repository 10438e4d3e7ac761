"""deskhand.providers"""
