"""From a video to a subject folder: decode, crop, landmarks, masks, tracking, QA."""
