import type { Box } from '../types.js';

/** How a stored picture came to be kept (the `pictures.kind` column). */
export type PictureKind = 'alert' | 'missed' | 'capture';

/** A model detection stored with a picture: its pre-label, in source pixels. */
export interface PreLabel {
  class_id: number;
  class: string;
  confidence: number;
  box: Box;
}

/** One row of the `pictures` table, its detections parsed. */
export interface StoredPicture {
  id: string;
  camera: string;
  ts: number;
  kind: PictureKind;
  reason: string;
  alertId: string | null;
  verdictId: string | null;
  /** JPEG path relative to the pictures folder. */
  file: string;
  width: number;
  height: number;
  detections: PreLabel[];
  exportedAt: number | null;
}

/** An alert raised on a picture's frame, with its operator's latest verdict (none: `unjudged`). */
export interface FrameAlert {
  alertId: string;
  className: string;
  box: Box;
  verdict: 'confirmed' | 'false_alarm' | 'unjudged';
}

/** A defect an operator drew on a frame because the model missed it. */
export interface MissedBox {
  verdictId: string;
  className: string;
  box: Box;
}

/** A picture and everything known about its frame: the alerts raised on it and the missed defects drawn on it. */
export interface PictureSources {
  picture: StoredPicture;
  alerts: FrameAlert[];
  missed: MissedBox[];
}

/**
 * Where a label came from. `confirmed` and `missed` are an operator's word;
 * `capture` (a captured picture's pre-label) and `unjudged` (a detection or an
 * alert on an alert's frame nobody judged) are the model's, to be reviewed.
 */
export type LabelSource = 'confirmed' | 'missed' | 'capture' | 'unjudged';

export const LABEL_SOURCES: readonly LabelSource[] = ['confirmed', 'missed', 'capture', 'unjudged'];

export interface Label {
  /** Index in the model's class order. */
  classIndex: number;
  /** Source pixels, top-left, clipped to the picture. */
  box: Box;
  source: LabelSource;
}

/** A picture as it goes into the dataset. */
export interface BuiltPicture {
  picture: StoredPicture;
  labels: Label[];
  /** Boxes an operator called a false alarm, left out of the labels (the picture is their hard negative). */
  falseAlarms: number;
  /** Some labels are the model's, not an operator's. */
  needsReview: boolean;
  /** Class names of boxes the model's class list does not have (left out). */
  unknownClasses: string[];
}

/** Why a picture was left out of the dataset. */
export type SkipReason = 'unjudged' | 'duplicate_frame';

export type BuildOutcome = { built: BuiltPicture } | { skipped: SkipReason };

export type Split = 'train' | 'val';
