"""deskhand.responder"""
