"""revenue"""
