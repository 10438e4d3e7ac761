"""deskhand.sync"""
