"""deskhand.queue"""
