"""What users do with a trained avatar: orbit videos, exports."""
