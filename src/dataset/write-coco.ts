import type { BuiltPicture } from './types.js';

export interface CocoImageRef {
  built: BuiltPicture;
  /** File name inside images/{split}/. */
  fileName: string;
}

/**
 * COCO detection annotations of one split. Category ids are the model's class
 * index + 1 (COCO keeps 0 free; many trainers treat it as background), in model
 * order; `bbox` is [x, y, w, h] in pixels from the top-left. Each annotation
 * also says where it came from (`linesight_source`), each image whether it
 * needs review: extra keys COCO readers ignore.
 */
export function cocoDocument(images: readonly CocoImageRef[], classes: readonly string[], description: string): object {
  let annotationId = 0;
  const annotations: object[] = [];
  const imageRows = images.map(({ built, fileName }, i) => {
    const imageId = i + 1;
    for (const label of built.labels) {
      const { x, y, w, h } = label.box;
      annotations.push({
        id: ++annotationId, image_id: imageId, category_id: label.classIndex + 1,
        bbox: [round(x), round(y), round(w), round(h)], area: round(w * h), iscrowd: 0, linesight_source: label.source,
      });
    }
    return { id: imageId, file_name: fileName, width: built.picture.width, height: built.picture.height, linesight_id: built.picture.id, needs_review: built.needsReview };
  });
  return {
    info: { description, version: '1', date_created: new Date().toISOString() },
    licenses: [],
    images: imageRows,
    annotations,
    categories: classes.map((name, i) => ({ id: i + 1, name, supercategory: 'defect' })),
  };
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
