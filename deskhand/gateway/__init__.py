"""deskhand.gateway"""
