"""mmdet's post-processing of RTMDet, SSDLite and RTMDet-Ins inside the exported graph
(ghostv2_mm/deploy/rewriters.py) or after a graph that ends before it (ncnn's:
ghostv2_mm/deploy/postprocess.py, numpy), and mmdet's and mmseg's resizing of mask and
segmentation logits outside it (ghostv2_mm/deploy/backend_models.py, and
ghostv2_mm/deploy/infer.py without PyTorch), on small graphs: each head's ``predict_by_feat``
alone, exported on random prediction maps given as the graph's inputs, against mmdet's eager
``predict_by_feat``. The maps make mmdeploy's own post-processing differ from mmdet's: boxes
reaching past the image (mmdet clips them), several classes of one box above ``score_thr`` and a
per-level ``nms_pre`` smaller than the candidates (mmdet keeps the best (box, class) pairs of each
level, not the best boxes of all)."""
import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch

INPUT = 128
# The image of mmdet's rescaled predictions: 160 x 192 (h x w), resized keeping its aspect ratio
# (as the configs resize) and padded to INPUT x INPUT.
ORI_SHAPE = (160, 192)
SCALE_FACTOR = (INPUT / 192, INPUT / 192)  # (w, h)
HEADS = {
    'rtmdet': ('configs/mmdet/rtmdet_tiny_ghostv2_640.py',
               'configs/mmdeploy/detection-rtmdet_onnxruntime_static-640x640.py'),
    'ssdlite': ('configs/mmdet/ssdlite_ghostv2_320.py',
                'configs/mmdeploy/detection-ssdlite_onnxruntime_static-320x320.py'),
    'rtmdet-ins': ('configs/mmdet/rtmdet-ins_tiny_ghostv2_640.py',
                   'configs/mmdeploy/instance-seg-rtmdet-ins_onnxruntime_static-640x640.py'),
    # ncnn's graphs end before the post-processing, which ghostv2_mm.deploy.postprocess finishes
    'rtmdet-ncnn': ('configs/mmdet/rtmdet_tiny_ghostv2_640.py',
                    'configs/mmdeploy/detection-rtmdet_ncnn_static-640x640.py'),
    'ssdlite-ncnn': ('configs/mmdet/ssdlite_ghostv2_320.py',
                     'configs/mmdeploy/detection-ssdlite_ncnn_static-320x320.py'),
}
NUM_CLASSES = 4
NMS_PRE = 40  # per level; the first levels have 256 (RTMDet) and 384 (SSDLite) priors
SCORE_THR = 0.3


class PredictByFeat(torch.nn.Module):
    """A head's ``predict_by_feat`` as a module of its prediction maps."""

    def __init__(self, head, groups):
        super().__init__()
        self.head, self.groups = head, groups

    def forward(self, *maps):
        args, start = [], 0
        for n in self.groups:  # e.g. cls_scores, bbox_preds (lists of levels), mask_feat
            args.append(list(maps[start:start + n]) if n > 1 else maps[start])
            start += n
        return self.head.predict_by_feat(*args, batch_img_metas=[dict(img_shape=(INPUT, INPUT))])


def head_maps(head, name, generator):
    """Random prediction maps of ``head``: class logits with several classes of a box above
    SCORE_THR, boxes (of up to 0.24 x INPUT) that reach past the image, RTMDet-Ins mask kernels and
    features."""
    strides = [s[0] for s in head.prior_generator.strides]
    priors = head.prior_generator.num_base_priors
    sizes = [max(1, -(-INPUT // s)) for s in strides]
    cls, box, kernels = [], [], []
    for size, n in zip(sizes, priors):
        cls.append(torch.randn(1, n * head.cls_out_channels, size, size, generator=generator) *
                   2)
        if name.startswith('ssdlite'):  # deltas of the anchors
            box.append(torch.randn(1, n * 4, size, size, generator=generator) * 0.5)
        else:  # distances from the point, in pixels
            box.append(torch.rand(1, 4, size, size, generator=generator) * 0.12 * INPUT)
        if name == 'rtmdet-ins':
            kernels.append(torch.randn(1, head.num_gen_params, size, size, generator=generator) *
                           0.5)
    maps, groups = cls + box, [len(cls), len(box)]
    if name == 'rtmdet-ins':
        mask_feat = torch.randn(1, head.num_prototypes, INPUT // 8, INPUT // 8,
                                generator=generator)
        maps, groups = maps + kernels + [mask_feat], groups + [len(kernels), 1]
    return maps, groups


@pytest.fixture(scope='module', params=list(HEADS))
def exported(request, tmp_path_factory):
    """(name, head, test_cfg, maps, groups, the graph's outputs from ONNX Runtime, finished by
    ghostv2_mm.deploy.postprocess where the graph ends before the post-processing)."""
    import mmdet.models  # noqa: F401  registers the heads
    import onnx
    import onnxruntime as ort
    from mmdeploy.apis.onnx import export
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mmdeploy.codebase import import_codebase
    from mmdeploy.utils import Codebase

    from ghostv2_mm.deploy.backends import register
    from ghostv2_mm.deploy.postprocess import detections
    from ghostv2_mm.deploy.rewriters import postprocess_spec
    import_codebase(Codebase.MMDET)  # mmdeploy's rewriters of mmdet, as its task processor does
    register()
    name = request.param
    model_cfg, deploy_file = HEADS[name]
    cfg = Config.fromfile(model_cfg)
    test_cfg = copy.deepcopy(cfg.model.test_cfg)
    test_cfg.update(nms_pre=NMS_PRE, score_thr=SCORE_THR)
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = MODELS.build(dict(cfg.model.bbox_head, num_classes=NUM_CLASSES,
                                 test_cfg=test_cfg)).eval()
    deploy_cfg = Config.fromfile(deploy_file)
    post = deploy_cfg.codebase_config.post_processing
    # The deploy config carries the model's test_cfg (tests/deploy/test_configs.py) ...
    assert (post.score_threshold, post.iou_threshold, post.pre_top_k, post.keep_top_k) == \
        (cfg.model.test_cfg.score_thr, cfg.model.test_cfg.nms.iou_threshold,
         cfg.model.test_cfg.nms_pre, cfg.model.test_cfg.max_per_img)
    post.update(score_threshold=SCORE_THR, pre_top_k=NMS_PRE)  # ... and here this one

    maps, groups = head_maps(head, name, torch.Generator().manual_seed(0))
    names = [f'map{i}' for i in range(len(maps))]
    outputs = list(deploy_cfg.onnx_config.output_names)
    prefix = str(tmp_path_factory.mktemp(name) / 'head')
    export(PredictByFeat(head, groups), tuple(maps), prefix, backend='onnxruntime',
           input_names=names, output_names=outputs, opset_version=11,
           context_info=dict(deploy_cfg=deploy_cfg))
    session = ort.InferenceSession(prefix + '.onnx', providers=['CPUExecutionProvider'])
    graph = dict(zip(outputs, session.run(None, {n: m.numpy() for n, m in zip(names, maps)})))
    if name.endswith('-ncnn'):
        assert outputs == ['deltas', 'scores'] and 'NonMaxSuppression' not in \
            {node.op_type for node in onnx.load(prefix + '.onnx').graph.node}
        spec = postprocess_spec(head, maps[:groups[0]], (INPUT, INPUT), deploy_cfg)
        graph = detections(graph, spec)
    return name, head, test_cfg, maps, groups, graph


def mmdet_predict(head, maps, groups, test_cfg):
    """mmdet's eager ``predict_by_feat`` (no rewriter), rescaled to ORI_SHAPE; sorted by
    score."""
    meta = dict(img_shape=(INPUT, INPUT), ori_shape=ORI_SHAPE, scale_factor=SCALE_FACTOR,
                pad_shape=(INPUT, INPUT))
    args, start = [], 0
    for n in groups:
        args.append([m.clone() for m in maps[start:start + n]] if n > 1 else maps[start])
        start += n
    with torch.no_grad():
        result = head.predict_by_feat(*args, batch_img_metas=[meta], cfg=test_cfg,
                                      rescale=True)[0]
    return result[result.scores.argsort(descending=True)]


def test_graph_returns_mmdet_detections(exported):
    from ghostv2_mm.deploy.infer import predictions
    name, head, test_cfg, maps, groups, graph = exported
    expected = mmdet_predict(head, maps, groups, test_cfg)
    # The premises: mmdet clips boxes, keeps boxes with several classes, and fewer than all.
    assert len(expected) > 20
    for level in maps[:groups[0]]:
        logits = level[0].permute(1, 2, 0).reshape(-1, head.cls_out_channels)
        scores = logits.sigmoid() if head.use_sigmoid_cls else logits.softmax(-1)[:, :-1]
        if (scores > test_cfg.score_thr).sum() > NMS_PRE:
            break
    else:
        raise AssertionError(f'no level has more than nms_pre={NMS_PRE} pairs above score_thr')
    if head.use_sigmoid_cls:  # (SSD's softmax scores rarely put two classes of a box there)
        labels_per_box = {}
        for box in expected.bboxes.numpy().round(2):
            labels_per_box[tuple(box)] = labels_per_box.get(tuple(box), 0) + 1
        assert max(labels_per_box.values()) > 1, 'no box with two classes among the detections'
    w, h = ORI_SHAPE[1], ORI_SHAPE[0]
    assert (expected.bboxes[:, 2] >= w - 1e-3).any() or (expected.bboxes[:, 3] >= h - 1e-3).any()

    result = predictions('Detector', graph, dict(ori_shape=ORI_SHAPE, img_shape=(INPUT, INPUT),
                                                 scale_factor=SCALE_FACTOR),
                         dict(mask_thr_binary=test_cfg.get('mask_thr_binary', 0.5)))
    assert len(result['scores']) == len(expected), \
        f'the graph returns {len(result["scores"])} detections, mmdet {len(expected)}'
    np.testing.assert_allclose(result['scores'], expected.scores.numpy(), atol=1e-5)
    np.testing.assert_allclose(result['bboxes'], expected.bboxes.numpy(), atol=1e-3)
    np.testing.assert_array_equal(result['labels'], expected.labels.numpy())
    if name == 'rtmdet-ins':
        from ghostv2_mm.deploy.backend_models import resize_mask_logits
        masks = expected.masks.numpy()
        assert masks.shape[1:] == ORI_SHAPE and 0.01 < masks.mean() < 0.99
        # Without PyTorch (infer) and in mmdeploy's backend model: the same masks but for
        # pixels whose logit is within float error of the threshold.
        assert (result['masks'] != masks).mean() < 1e-4
        kept = torch.from_numpy(graph['masks'][0][graph['dets'][0][:, 4] > 0])
        found = resize_mask_logits(kept, SCALE_FACTOR, ORI_SHAPE, test_cfg.mask_thr_binary)
        assert (found.numpy() != masks).mean() < 1e-4


def test_segmentation_logits_are_resized_before_the_argmax():
    """mmseg's ``postprocess_result`` (bilinear logits, then the arg-max), mmdeploy's backend
    model ``end2end_logits`` and :func:`~ghostv2_mm.deploy.infer.predictions` agree on logits
    of a resized image, where resizing the label map would not."""
    from mmengine.config import Config
    from mmseg.models.segmentors import EncoderDecoder
    from mmseg.structures import SegDataSample

    from ghostv2_mm.deploy.backend_models import LogitsSegmentationModel
    from ghostv2_mm.deploy.infer import predictions
    torch.manual_seed(0)
    logits = torch.nn.functional.interpolate(torch.randn(1, 5, 12, 16), size=(48, 64),
                                             mode='bilinear')
    meta = dict(img_shape=(48, 64), ori_shape=(20, 27))
    reference = EncoderDecoder.postprocess_result(
        SimpleNamespace(align_corners=False), logits, [SegDataSample(metainfo=meta)])
    expected = reference[0].pred_sem_seg.data[0].numpy()
    deploy_cfg = Config(dict(codebase_config=dict(type='mmseg', model_type='end2end_logits')))
    found = LogitsSegmentationModel.pack_result(
        SimpleNamespace(deploy_cfg=deploy_cfg), logits, [SegDataSample(metainfo=meta)])
    np.testing.assert_array_equal(found[0].pred_sem_seg.data[0].numpy(), expected)
    result = predictions('Segmentor', dict(output=logits.numpy()), meta)['sem_seg']
    assert (result != expected).mean() < 1e-3
    nearest = predictions('Segmentor', dict(output=logits.argmax(1, keepdim=True).numpy()),
                          meta)['sem_seg']
    assert (nearest != expected).mean() > 0.01  # the premise: the order matters here
