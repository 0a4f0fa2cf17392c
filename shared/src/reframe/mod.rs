//! Reframing a video to another aspect ratio: shots, what to keep in
//! frame, and the virtual camera that keeps it there. Pure logic; the
//! `VideoH2V` capability feeds it detections and renders its path.

pub mod cuts;
pub mod path;
