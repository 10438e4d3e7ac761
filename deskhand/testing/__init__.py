"""deskhand.testing"""
