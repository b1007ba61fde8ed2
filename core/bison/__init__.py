"""bison"""
