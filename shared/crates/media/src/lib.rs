//! iprod's media layer. FFmpeg (through ffmpeg-next): probing, decoding,
//! encoding and the conversions between FFmpeg frames and the pixel buffers
//! of `vision` (pixel work on RGB buffers), which is here too.
//!
//! Everything here is synchronous and bounded in memory: frames are handed
//! to a callback one at a time, never collected.

pub mod audio;
#[cfg(feature = "video")]
pub mod colour;
#[cfg(feature = "video")]
pub mod encode;
mod error;
#[cfg(feature = "video")]
pub mod image_out;
pub mod input;
#[cfg(feature = "video")]
pub mod join;
#[cfg(feature = "video")]
pub mod planar;
#[cfg(feature = "video")]
pub mod preview;
#[cfg(feature = "video")]
pub mod process;
#[cfg(feature = "video")]
pub mod sequence;
#[cfg(feature = "video")]
mod video;
#[cfg(feature = "video")]
pub mod vision;

pub use audio::{decode_mono, decode_mono_stream, AudioBuffer, StreamInfo};
pub use error::MediaError;
#[cfg(feature = "video")]
pub use video::{DecodedFrame, Rotation, SamplingMode, VideoInfo, VideoReader};

use std::sync::Once;

static INIT: Once = Once::new();

/// Initialises FFmpeg once per process and quiets its logging (errors are
/// reported through [`MediaError`], not stderr).
pub fn init() {
    INIT.call_once(|| {
        // `init` only registers components; it cannot fail on FFmpeg >= 4.
        let _ = ffmpeg_next::init();
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
}

/// Reads `input`'s next packet into `packet`, first releasing the data the
/// packet held: `av_read_frame` does not, so a packet read into again and
/// again would keep every packet of the file alive (memory growing with
/// the file's size).
///
/// # Errors
/// As `av_read_frame`: `Eof` at the end, others for damaged data.
pub(crate) fn read_packet(
    packet: &mut ffmpeg_next::Packet,
    input: &mut ffmpeg_next::format::context::Input,
) -> Result<(), ffmpeg_next::Error> {
    *packet = ffmpeg_next::Packet::empty();
    packet.read(input)
}
