"""The avatar: Gaussians bound to a personalised head mesh, and what deforms them."""
