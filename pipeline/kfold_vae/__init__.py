"""van den Burg & Williams: K-fold memorization score of VAEs (methods.md section 2)."""
