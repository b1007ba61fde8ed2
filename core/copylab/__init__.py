"""copylab"""
