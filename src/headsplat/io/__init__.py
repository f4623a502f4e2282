"""Files and folders: video, the subject folder, checkpoints, atomic writes, errors, progress."""
