"""Gaussians bound to the head mesh in UV space: sampling, binding, the parameter store."""
