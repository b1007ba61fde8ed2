"""The contacts workbench: find any contact across clients, its story, and single changes."""
