"""How the head mesh moves per frame: tracked pose and expression plus learnable corrections."""
