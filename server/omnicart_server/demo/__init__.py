"""The browser demo: a small shop, an agent console and the handoff claim page, served as static files."""
