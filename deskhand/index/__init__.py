"""deskhand.index"""
