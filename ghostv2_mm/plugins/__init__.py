"""DFC attention added to other OpenMMLab backbones (imported on demand: they need the downstream
library). Configs name the module in ``custom_imports``."""
