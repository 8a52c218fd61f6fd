# Paper Table 5 baseline: DeepLabV3 + MobileNetV2 1.0x is mmseg's own config, unchanged (same
# schedule as deeplabv3_ghostv2_ade20k_512.py); kept here so the table re-runs from one folder.
_base_ = 'mmseg::mobilenet_v2/mobilenet-v2-d8_deeplabv3_4xb4-160k_ade20k-512x512.py'
