//! A PNG sequence (RGBA, one PNG per frame) in a single zip archive,
//! written frame by frame. PNGs are already compressed, so entries are
//! stored; a frame list with each frame's time goes in as `frames.csv`
//! so variable frame rates survive.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, RgbaImage};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::MediaError;

/// Writes `frame_000001.png`, `frame_000002.png`, … into a zip.
pub struct PngZip {
    path: PathBuf,
    zip: ZipWriter<BufWriter<File>>,
    frames: u64,
    index: String,
    png: Vec<u8>,
}

impl std::fmt::Debug for PngZip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PngZip")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

fn zip_error(path: &Path) -> impl Fn(zip::result::ZipError) -> MediaError + '_ {
    move |e| MediaError::Encode {
        format: "zip",
        detail: format!("{}: {e}", path.display()),
    }
}

impl PngZip {
    /// Creates the archive at `path`.
    ///
    /// # Errors
    /// `Io` when the file cannot be created.
    pub fn create(path: &Path) -> Result<Self, MediaError> {
        let file = File::create(path).map_err(|source| MediaError::Io {
            context: format!("creating {}", path.display()),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            zip: ZipWriter::new(BufWriter::new(file)),
            frames: 0,
            index: String::from("file,time\n"),
            png: Vec::new(),
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Adds `image` as the next frame, shown at `time_s`.
    ///
    /// # Errors
    /// `Encode` when the PNG or the archive cannot be written.
    pub fn push(&mut self, image: &RgbaImage, time_s: f64) -> Result<(), MediaError> {
        self.png.clear();
        PngEncoder::new_with_quality(&mut self.png, CompressionType::Fast, FilterType::Adaptive)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                ExtendedColorType::Rgba8,
            )
            .map_err(|e| MediaError::Encode {
                format: "png",
                detail: e.to_string(),
            })?;
        self.frames += 1;
        let name = format!("frame_{:06}.png", self.frames);
        self.zip
            .start_file(name.as_str(), stored())
            .map_err(zip_error(&self.path))?;
        self.zip
            .write_all(&self.png)
            .map_err(|source| MediaError::Io {
                context: format!("writing {}", self.path.display()),
                source,
            })?;
        self.index.push_str(&format!("{name},{time_s:.6}\n"));
        Ok(())
    }

    /// Writes the frame list and the archive's directory.
    ///
    /// # Errors
    /// `Encode` when nothing was written or the archive cannot be closed.
    pub fn finish(mut self) -> Result<PathBuf, MediaError> {
        if self.frames == 0 {
            return Err(MediaError::Encode {
                format: "zip",
                detail: "no frames to write".into(),
            });
        }
        self.zip
            .start_file("frames.csv", stored())
            .map_err(zip_error(&self.path))?;
        self.zip
            .write_all(self.index.as_bytes())
            .map_err(|source| MediaError::Io {
                context: format!("writing {}", self.path.display()),
                source,
            })?;
        let mut out = self.zip.finish().map_err(zip_error(&self.path))?;
        out.flush().map_err(|source| MediaError::Io {
            context: format!("writing {}", self.path.display()),
            source,
        })?;
        Ok(self.path)
    }
}

fn stored() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .large_file(false)
}
