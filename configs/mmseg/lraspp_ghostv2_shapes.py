# LRASPP + dilated GhostNetV2 1.0x (output stride 8) on the generated shapes dataset (ADE20K
# layout, 160x224 images, label 0 = unlabelled and ignored through reduce_zero_label, 1 =
# background, 2-7 = shapes: `python tools/misc/make_shapes.py seg`), short enough for a CPU.
_base_ = './lraspp_ghostv2_cityscapes_512x1024.py'

data_root = 'data/shapes_seg/'
metainfo = dict(
    classes=('background', 'disk', 'square', 'triangle', 'star', 'cross', 'ring'),
    palette=[[120, 120, 120], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200],
             [245, 130, 48], [145, 30, 180]])
num_classes = len(metainfo['classes'])
# LRASPPHead's fixed AvgPool2d(49) on the stride-8 map takes images of at least 385 px a side:
# the 160x224 images are resized up 2.45x to 392x549 (a 49x69 map) and trained on 392x392 crops.
# Resizing in the pipeline keeps one shapes dataset for DeepLabV3 and LRASPP; a larger generated
# variant would cost the same per pixel and add nothing the resize does not (the shapes are
# smooth polygons).
scale = (549, 392)
crop_size = (392, 392)
norm_cfg = dict(type='BN', requires_grad=True)
shapes_pretrained = 'checkpoints/ghostnetv2_1.0x_shapes.pth'

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_cfg=norm_cfg, init_cfg=dict(checkpoint=shapes_pretrained)),
    decode_head=dict(num_classes=num_classes, norm_cfg=dict(type='BN')))

# No colour jitter: the classes are hue bands 30 apart (ghostv2_mm/synthetic.py), which
# PhotoMetricDistortion's hue shift (up to 18) would mix up.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='RandomResize', scale=scale, ratio_range=(1.0, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='CheckSegLabels', num_classes=num_classes),
    dict(type='PackSegInputs'),
]
# BaseSegDataset with ADE20K's suffixes and reduce_zero_label reads the layout with our classes
# (in place of the base's CityscapesDataset, hence _delete_).
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=metainfo, img_suffix='.jpg',
               seg_map_suffix='.png', reduce_zero_label=True)
train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=False,
    dataset=dict(_delete_=True, **dataset, pipeline=train_pipeline,
                 data_prefix=dict(img_path='images/training', seg_map_path='annotations/training')))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    dataset=dict(_delete_=True, **dataset, pipeline=test_pipeline,
                 data_prefix=dict(img_path='images/validation',
                                  seg_map_path='annotations/validation')))
test_dataloader = val_dataloader

# A CPU-sized schedule instead of 320k iterations of SGD at batch 16: 160 iterations of batch 2
# (a 392x392 crop costs 4.9 GMACs forward, 25 times a DeepLabV3 shapes crop).
max_iters = 160
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=10, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
