//! Opening untrusted media. Every input goes through [`open`]:
//!
//! - only demuxers of plain media files are allowed ([`DEMUXERS`]): no
//!   playlists (`hls`, `dash`), no `concat`, no `tty` (a text file is not
//!   a video), nothing that names other files or network addresses; the
//!   one-picture demuxer `image2` reads the one file, never a sequence;
//! - only the `file` protocol, so nothing inside a file can open another
//!   location; an input given as an `http(s)://` address (a presigned URL
//!   of the job's own object, read by ranged GETs) is read over HTTP and
//!   nothing else;
//! - while FFmpeg probes the streams its decoders refuse frames over the
//!   pixel limit (`max_pixels`) instead of allocating them, and a video
//!   stream's frame size is checked before any frame is decoded.

use std::ffi::CString;
use std::path::Path;

use ffmpeg_next::format;
use iprod_core::domain::Limits;

use crate::error::MediaError;

/// The demuxers an input may be read with (FFmpeg's short names; one name
/// of a demuxer that has several is enough).
pub const DEMUXERS: &str = "mov,matroska,avi,flv,mpegts,mpeg,mxf,asf,ogg,\
    mp3,wav,w64,flac,aac,ac3,eac3,dts,aiff,caf,amr,ape,wv,\
    h264,hevc,m4v,mpegvideo,ivf,obu,\
    gif,image2,png_pipe,jpeg_pipe,webp_pipe,bmp_pipe,tiff_pipe";

/// Opens `path` for reading under the rules above.
///
/// # Errors
/// `Open` for a file that is not media of an allowed kind; `Limit` for a
/// video stream over `limits.max_frame_pixels`.
pub fn open(path: &Path, limits: &Limits) -> Result<format::context::Input, MediaError> {
    crate::init();
    let too_large = |width: u64, height: u64| MediaError::Limit {
        what: "the frame size",
        actual: format!("{width}x{height}"),
        limit: format!("{} pixels", limits.max_frame_pixels),
    };
    let input = match open_guarded(path, limits.max_frame_pixels) {
        Ok(input) => input,
        Err(Guarded::TooLarge(width, height)) => return Err(too_large(width, height)),
        Err(Guarded::Ffmpeg(source)) => {
            return Err(match sniff_format(path) {
                Some(name) if !allowed(name) => MediaError::Refused {
                    path: path.to_owned(),
                    format: name.to_owned(),
                },
                _ => MediaError::Open {
                    path: path.to_owned(),
                    source,
                },
            })
        }
    };
    // Probing found no size where the decoder refused to size a frame over
    // the limit: a picture's header says how large it is.
    for stream in input.streams() {
        if frame_size(&stream) == Some((0, 0)) {
            if let Some((width, height)) = image_size(path) {
                let (width, height) = (u64::from(width), u64::from(height));
                if width * height > limits.max_frame_pixels {
                    return Err(too_large(width, height));
                }
            }
        }
    }
    Ok(input)
}

/// Why a guarded open failed.
enum Guarded {
    Ffmpeg(ffmpeg_next::Error),
    TooLarge(u64, u64),
}

/// The frame size a video stream (not cover art) declares, `None` for
/// other streams.
#[allow(unsafe_code)]
fn frame_size(stream: &format::stream::Stream<'_>) -> Option<(u64, u64)> {
    let params = stream.parameters();
    let cover_art = stream
        .disposition()
        .contains(format::stream::Disposition::ATTACHED_PIC);
    if params.medium() != ffmpeg_next::media::Type::Video || cover_art {
        return None;
    }
    // SAFETY: the parameters belong to a stream of an open input.
    let (width, height) = unsafe {
        let raw = params.as_ptr();
        ((*raw).width, (*raw).height)
    };
    Some((width.max(0) as u64, height.max(0) as u64))
}

/// Whether `path` is an `http://` or `https://` address.
pub fn is_url(path: &Path) -> bool {
    path.to_str()
        .is_some_and(|p| p.starts_with("https://") || p.starts_with("http://"))
}

fn allowed(name: &str) -> bool {
    name.split(',')
        .any(|n| DEMUXERS.split(',').any(|d| d.trim() == n))
}

/// `avformat_open_input` with the whitelists, then
/// `avformat_find_stream_info` with `max_pixels` for every stream's
/// decoder (ffmpeg-next passes no per-stream options).
#[allow(unsafe_code)]
fn open_guarded(path: &Path, max_pixels: u64) -> Result<format::context::Input, Guarded> {
    use ffmpeg_next::ffi;
    use std::os::unix::ffi::OsStrExt;
    let invalid = || Guarded::Ffmpeg(ffmpeg_next::Error::InvalidData);
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| invalid())?;
    let mut options = ffmpeg_next::Dictionary::new();
    options.set(
        "format_whitelist",
        &DEMUXERS.replace(char::is_whitespace, ""),
    );
    let remote = is_url(path);
    if remote {
        ffmpeg_next::format::network::init();
        options.set("protocol_whitelist", "http,https,tcp,tls");
        // A stalled connection fails the read instead of hanging the job.
        options.set("rw_timeout", "60000000");
        options.set("reconnect", "1");
    } else {
        options.set("protocol_whitelist", "file");
    }
    // `image2` reads one picture by its extension, never a numbered or
    // globbed sequence of other files.
    options.set("pattern_type", "none");
    let max_pixels_text =
        CString::new(max_pixels.min(i64::MAX as u64).to_string()).map_err(|_| invalid())?;
    // SAFETY: `ps` starts null and is set by avformat_open_input on
    // success, closed by us on every later failure, and otherwise handed
    // to `Input::wrap`, which owns it from then on. Dictionaries are owned
    // here and freed once FFmpeg has consumed them; the per-stream array
    // has exactly `nb_streams` entries as avformat_find_stream_info reads.
    unsafe {
        let mut ps = std::ptr::null_mut();
        let mut raw = options.disown();
        let res = ffi::avformat_open_input(&mut ps, c_path.as_ptr(), std::ptr::null(), &mut raw);
        drop(ffmpeg_next::Dictionary::own(raw));
        if res < 0 {
            return Err(Guarded::Ffmpeg(ffmpeg_next::Error::from(res)));
        }
        let streams = (*ps).nb_streams as usize;
        // What the container's headers declare, before any decoding.
        for index in 0..streams {
            let stream = *(*ps).streams.add(index);
            let params = (*stream).codecpar;
            let cover_art = (*stream).disposition & ffi::AV_DISPOSITION_ATTACHED_PIC != 0;
            if params.is_null()
                || cover_art
                || (*params).codec_type != ffi::AVMediaType::AVMEDIA_TYPE_VIDEO
            {
                continue;
            }
            let width = (*params).width.max(0) as u64;
            let height = (*params).height.max(0) as u64;
            if width * height > max_pixels {
                ffi::avformat_close_input(&mut ps);
                return Err(Guarded::TooLarge(width, height));
            }
        }
        let mut per_stream: Vec<*mut ffi::AVDictionary> = vec![std::ptr::null_mut(); streams];
        for dict in &mut per_stream {
            ffi::av_dict_set(dict, c"max_pixels".as_ptr(), max_pixels_text.as_ptr(), 0);
            ffi::av_dict_set(dict, c"threads".as_ptr(), c"1".as_ptr(), 0);
        }
        let found = ffi::avformat_find_stream_info(ps, per_stream.as_mut_ptr());
        for dict in &mut per_stream {
            ffi::av_dict_free(dict);
        }
        if found < 0 {
            ffi::avformat_close_input(&mut ps);
            return Err(Guarded::Ffmpeg(ffmpeg_next::Error::from(found)));
        }
        Ok(format::context::Input::wrap(ps))
    }
}

/// The demuxer FFmpeg would pick for `path`, probed with no whitelist but
/// without opening anything: only to name a refused format.
#[allow(unsafe_code)]
fn sniff_format(path: &Path) -> Option<&'static str> {
    use ffmpeg_next::ffi;
    let mut head = vec![0u8; 4096];
    let n = {
        use std::io::Read;
        let mut file = std::fs::File::open(path).ok()?;
        file.read(&mut head).ok()?
    };
    head.truncate(n);
    head.extend_from_slice(&[0u8; 64]); // AVPROBE_PADDING_SIZE
    let filename = CString::new(path.file_name()?.to_string_lossy().as_bytes()).ok()?;
    // SAFETY: the probe data points at `head`, alive for the call, with
    // the zero padding FFmpeg requires; the returned format is static.
    unsafe {
        let probe = ffi::AVProbeData {
            filename: filename.as_ptr(),
            buf: head.as_mut_ptr(),
            buf_size: n as i32,
            mime_type: std::ptr::null(),
        };
        let format = ffi::av_probe_input_format(&probe, 1);
        if format.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*format).name).to_str().ok()
    }
}

/// Width and height from a PNG or JPEG header, read without decoding (so
/// that every build, with or without image support, says the same).
pub fn image_size(path: &Path) -> Option<(u32, u32)> {
    use std::io::Read;
    let mut head = Vec::with_capacity(64 * 1024);
    std::fs::File::open(path)
        .ok()?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .ok()?;
    picture_size(&head)
}

/// The size in a PNG's IHDR or a JPEG's first SOF marker.
fn picture_size(head: &[u8]) -> Option<(u32, u32)> {
    let be16 = |at: usize| -> Option<u32> {
        Some(u32::from(u16::from_be_bytes(
            head.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(head.get(at..at + 4)?.try_into().ok()?))
    };
    if head.starts_with(b"\x89PNG\r\n\x1a\n") && head.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if head.starts_with(&[0xFF, 0xD8]) {
        let mut at = 2;
        while at + 4 <= head.len() {
            if head[at] != 0xFF {
                return None;
            }
            let marker = head[at + 1];
            let length = be16(at + 2)? as usize;
            let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
            if sof {
                return Some((be16(at + 7)?, be16(at + 5)?));
            }
            at += 2 + length;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_matches_any_name_of_a_demuxer() {
        assert!(allowed("mov,mp4,m4a,3gp,3g2,mj2"));
        assert!(allowed("matroska,webm"));
        assert!(allowed("png_pipe"));
        assert!(!allowed("hls"));
        assert!(!allowed("concat"));
        assert!(!allowed("tty"));
        assert!(!allowed("lavfi"));
    }

    #[test]
    fn picture_headers_give_their_size() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&16255u32.to_be_bytes());
        png.extend_from_slice(&300u32.to_be_bytes());
        assert_eq!(picture_size(&png), Some((16255, 300)));
        // An APP0 segment, then SOF0 (height 65000, width 1000).
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
        jpeg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0xFD, 0xE8, 0x03, 0xE8, 0x03]);
        assert_eq!(picture_size(&jpeg), Some((1000, 65000)));
        assert_eq!(picture_size(b"not a picture"), None);
    }
}
