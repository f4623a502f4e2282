"""Writers of standard formats: 3DGS .ply."""
