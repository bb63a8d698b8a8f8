"""The ComfyUI adapter: node classes, one file per family. The only code that imports comfy.*."""
NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
