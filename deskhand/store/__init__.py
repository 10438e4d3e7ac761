"""deskhand.store"""
