# DeepLabV3 + dilated GhostNetV2 1.0x (output stride 8) on the generated shapes dataset (ADE20K
# layout, 160x224 images, label 0 = unlabelled and ignored through reduce_zero_label, 1 =
# background, 2-7 = shapes: `python tools/misc/make_shapes.py seg`), short enough for a CPU.
_base_ = './deeplabv3_ghostv2_ade20k_512.py'

data_root = 'data/shapes_seg/'
metainfo = dict(
    classes=('background', 'disk', 'square', 'triangle', 'star', 'cross', 'ring'),
    palette=[[120, 120, 120], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
             [245, 130, 48], [145, 30, 180]])
num_classes = len(metainfo['classes'])
crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)
shapes_pretrained = 'checkpoints/ghostnetv2_1.0x_shapes.pth'

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_cfg=norm_cfg, init_cfg=dict(checkpoint=shapes_pretrained)),
    # 128-pixel crops give 16x16 features: ASPP rates (12, 24, 36) would mostly read padding.
    decode_head=dict(num_classes=num_classes, channels=128, dilations=(1, 3, 6, 9),
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(num_classes=num_classes, channels=64, norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=(224, 160), ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 160), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
# ADE20KDataset only takes subsets of its 150 classes; BaseSegDataset with ADE20K's suffixes and
# reduce_zero_label reads the same layout with our classes.
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix='.jpg',
               seg_map_suffix='.png', reduce_zero_label=True)
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=False,
    dataset=dict(**dataset, pipeline=train_pipeline,
                 data_prefix=dict(img_path='images/training', seg_map_path='annotations/training')))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    dataset=dict(**dataset, pipeline=test_pipeline,
                 data_prefix=dict(img_path='images/validation',
                                  seg_map_path='annotations/validation')))
test_dataloader = val_dataloader

# A CPU-sized schedule instead of 160k iterations of SGD at batch 16.
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=3e-3, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=20, end=400, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=400, val_interval=200)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(by_epoch=False, interval=200, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
