"""Image generators: the ImageGenerator protocol, the procedural renderer and diffusers pipelines."""
