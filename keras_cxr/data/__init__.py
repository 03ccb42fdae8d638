"""Chest X-ray data: the Kermany directory loader, ChestX-ray14 and CheXpert label CSVs, patient
splits, DICOM and synthetic phantoms.

Example:
    >>> import keras_cxr.data
    >>> data = keras_cxr.data.load_chest_xray("chest_xray", image_size=(224, 224))
    >>> model.fit(data.train, validation_data=data.val, class_weight=data.class_weight)
"""

from keras_cxr.data import synthetic
from keras_cxr.data._label_csv import LabelRowError
from keras_cxr.data.augmentation import AUGMENTATIONS, make_augmentation, named_augmentation
from keras_cxr.data.box_csv import boxes_to_mask, read_box_csv
from keras_cxr.data.chest_xray import ChestXRay, load_chest_xray
from keras_cxr.data.chestxray14 import CHESTXRAY14_FINDINGS, NO_FINDING, read_chestxray14
from keras_cxr.data.chexpert import (
    BLANK_POLICIES,
    CHEXPERT_FINDINGS,
    UNCERTAINTY_POLICIES,
    read_chexpert,
)
from keras_cxr.data.class_weight import balanced_class_weight
from keras_cxr.data.cohorts import (
    TEST_NORMAL2_SHARE,
    cohort_matched_split,
    cohort_matched_subset,
    cohort_share,
    hold_out_cohort,
    image_cohort,
)
from keras_cxr.data.dicom import read_dicom
from keras_cxr.data.image_bytes import decode_image_bytes, header_pixels, sniff_format
from keras_cxr.data.image_header import MAX_DECODED_BYTES, ImageTooLargeError
from keras_cxr.data.image_splits import ImageSet, ImageSplits, load_image_folder, load_image_splits
from keras_cxr.data.images import MIN_IMAGE_SIDE, read_image, read_images, resize_images
from keras_cxr.data.index import IndexRecord, ScannedIndex, index_chest_xray, scan_chest_xray
from keras_cxr.data.label_csv import read_label_csv
from keras_cxr.data.label_table import LabelTable, split_label_table
from keras_cxr.data.labels import CLASS_NAMES, LABEL_SETS, kermany_label
from keras_cxr.data.patients import patient_id, split_by_patient
from keras_cxr.data.prefetch import DecodedBatch, prefetch_batches
from keras_cxr.data.region_masks import (
    check_region_sources,
    find_mask_files,
    load_region_masks,
)
from keras_cxr.data.sampling import balanced_sample, stratified_sample
from keras_cxr.data.scan import MAX_IMAGE_PIXELS, scan_images
from keras_cxr.data.shifted import (
    SHIFT_KINDS,
    SHIFTS,
    describe_shifts,
    shift_images,
    shift_statistics,
    shifted_copies,
)
from keras_cxr.data.sources import ImageSource, find_images

__all__ = [
    "AUGMENTATIONS",
    "BLANK_POLICIES",
    "CHESTXRAY14_FINDINGS",
    "CHEXPERT_FINDINGS",
    "CLASS_NAMES",
    "LABEL_SETS",
    "MAX_DECODED_BYTES",
    "MAX_IMAGE_PIXELS",
    "MIN_IMAGE_SIDE",
    "NO_FINDING",
    "SHIFTS",
    "SHIFT_KINDS",
    "TEST_NORMAL2_SHARE",
    "UNCERTAINTY_POLICIES",
    "ChestXRay",
    "DecodedBatch",
    "ImageSet",
    "ImageSource",
    "ImageSplits",
    "ImageTooLargeError",
    "IndexRecord",
    "LabelRowError",
    "LabelTable",
    "ScannedIndex",
    "balanced_class_weight",
    "balanced_sample",
    "boxes_to_mask",
    "check_region_sources",
    "cohort_matched_split",
    "cohort_matched_subset",
    "cohort_share",
    "decode_image_bytes",
    "describe_shifts",
    "find_images",
    "find_mask_files",
    "header_pixels",
    "hold_out_cohort",
    "image_cohort",
    "index_chest_xray",
    "kermany_label",
    "load_chest_xray",
    "load_image_folder",
    "load_image_splits",
    "load_region_masks",
    "make_augmentation",
    "named_augmentation",
    "patient_id",
    "prefetch_batches",
    "read_box_csv",
    "read_chestxray14",
    "read_chexpert",
    "read_dicom",
    "read_image",
    "read_images",
    "read_label_csv",
    "resize_images",
    "scan_chest_xray",
    "scan_images",
    "shift_images",
    "shift_statistics",
    "shifted_copies",
    "sniff_format",
    "split_by_patient",
    "split_label_table",
    "stratified_sample",
    "synthetic",
]
