"""mmdet's and mmseg's heads with the package's fixes and checks (imported on demand: they need
the downstream library). Configs name the module in ``custom_imports``."""
