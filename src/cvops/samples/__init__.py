"""Sample data over versions: synthetic shapes images for demos and tests (``shapes``) and the demo workspace
built from them (``demo``)."""
