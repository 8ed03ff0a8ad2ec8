"""The demo world: procedural street scenes with exact boxes, and the field camera that films them."""
