export { Tracker, type TrackerOptions, type TrackerUpdate, type TrackView } from './tracker.js';
export { pointInPolygon, regionFilter, type Point, type Polygon } from './roi.js';
