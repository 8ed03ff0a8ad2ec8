"""Labelers: the Labeler protocol, scene truth and GroundingDINO + SAM."""
