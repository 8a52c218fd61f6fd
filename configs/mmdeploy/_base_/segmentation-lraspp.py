_base_ = ['./segmentation.py']

# The graph ends at the logits; the backend model 'end2end_logits'
# (ghostv2_mm/deploy/backend_models.py) resizes them bilinearly to the original image before the
# arg-max, as mmseg does (LRASPP runs on images resized from their original size).
codebase_config = dict(with_argmax=False, model_type='end2end_logits', align_corners=False)
