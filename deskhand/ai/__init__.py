"""deskhand.ai"""
