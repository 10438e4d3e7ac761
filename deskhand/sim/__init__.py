"""deskhand.sim"""
