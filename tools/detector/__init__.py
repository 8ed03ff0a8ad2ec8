"""Detectors: the Detector protocol and its backends (ultralytics YOLOv8)."""
