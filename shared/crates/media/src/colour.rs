//! Colour metadata of a video: which YUV matrix its pixels use, their
//! range, and the primaries and transfer it is tagged with. Read from the
//! source, used for the YUV→RGB conversion of decoded frames and carried
//! into what we write, so an HD (BT.709) source keeps its colours instead
//! of going through swscale's BT.601 default.

use ffmpeg_next::software::scaling;
use ffmpeg_next::util::color;

/// The YUV↔RGB matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Matrix {
    /// ITU-R BT.601 (SD; also SMPTE 170M and BT.470BG).
    Bt601,
    /// ITU-R BT.709 (HD).
    Bt709,
    /// ITU-R BT.2020 non-constant luminance (UHD).
    Bt2020,
}

impl Matrix {
    fn sws(self) -> i32 {
        match self {
            Self::Bt601 => ffmpeg_next::ffi::SWS_CS_ITU601,
            Self::Bt709 => ffmpeg_next::ffi::SWS_CS_ITU709,
            Self::Bt2020 => ffmpeg_next::ffi::SWS_CS_BT2020,
        }
    }

    fn space(self) -> color::Space {
        match self {
            Self::Bt601 => color::Space::SMPTE170M,
            Self::Bt709 => color::Space::BT709,
            Self::Bt2020 => color::Space::BT2020NCL,
        }
    }
}

/// A stream's colour description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Colour {
    /// The YUV matrix (guessed from the frame height when untagged, as
    /// players do: BT.709 from 720 lines up, BT.601 below).
    pub matrix: Matrix,
    /// Full (JPEG, 0–255) rather than limited (16–235) range.
    pub full_range: bool,
    /// Primaries the source is tagged with (carried over as they are).
    #[serde(skip)]
    pub primaries: color::Primaries,
    /// Transfer characteristic the source is tagged with.
    #[serde(skip)]
    pub transfer: color::TransferCharacteristic,
}

impl Default for Colour {
    /// BT.601, limited range, untagged primaries and transfer: what a
    /// writer uses when nothing is known about the source.
    fn default() -> Self {
        Self {
            matrix: Matrix::Bt601,
            full_range: false,
            primaries: color::Primaries::Unspecified,
            transfer: color::TransferCharacteristic::Unspecified,
        }
    }
}

impl Colour {
    /// The description of a stream tagged with `space`/`range`/…, coded
    /// at `height` lines; `jpeg_format` for the `yuvj*` pixel formats,
    /// which are full range whatever the tag says.
    pub fn from_tags(
        space: color::Space,
        range: color::Range,
        primaries: color::Primaries,
        transfer: color::TransferCharacteristic,
        height: u32,
        jpeg_format: bool,
    ) -> Self {
        let matrix = match space {
            color::Space::BT709 => Matrix::Bt709,
            color::Space::BT470BG | color::Space::SMPTE170M | color::Space::FCC => Matrix::Bt601,
            color::Space::BT2020NCL | color::Space::BT2020CL => Matrix::Bt2020,
            _ => match primaries {
                color::Primaries::BT709 => Matrix::Bt709,
                color::Primaries::BT470BG | color::Primaries::SMPTE170M => Matrix::Bt601,
                color::Primaries::BT2020 => Matrix::Bt2020,
                _ if height >= 720 => Matrix::Bt709,
                _ => Matrix::Bt601,
            },
        };
        Self {
            matrix,
            full_range: jpeg_format || range == color::Range::JPEG,
            primaries,
            transfer,
        }
    }

    /// The tags an encoder writes for this description (limited range:
    /// what every player expects of H.264/VP9/ProRes).
    pub fn tag_encoder(&self, encoder: &mut ffmpeg_next::encoder::video::Video) {
        encoder.set_colorspace(self.matrix.space());
        encoder.set_color_range(color::Range::MPEG);
        encoder.set_color_primaries(match self.primaries {
            color::Primaries::Unspecified | color::Primaries::Reserved0 => match self.matrix {
                Matrix::Bt601 => color::Primaries::SMPTE170M,
                Matrix::Bt709 => color::Primaries::BT709,
                Matrix::Bt2020 => color::Primaries::BT2020,
            },
            p => p,
        });
        encoder.set_color_transfer_characteristic(match self.transfer {
            color::TransferCharacteristic::Unspecified
            | color::TransferCharacteristic::Reserved0 => match self.matrix {
                Matrix::Bt601 => color::TransferCharacteristic::SMPTE170M,
                Matrix::Bt709 => color::TransferCharacteristic::BT709,
                Matrix::Bt2020 => color::TransferCharacteristic::BT2020_10,
            },
            t => t,
        });
    }

    /// Makes `scaler` (YUV → RGB) decode with this matrix and range.
    pub fn set_decoding(&self, scaler: &mut scaling::Context) {
        set_details(
            scaler,
            self.matrix.sws(),
            self.full_range,
            self.matrix.sws(),
            true,
        );
    }

    /// Makes `scaler` (RGB → YUV) encode with this matrix, limited range.
    pub fn set_encoding(&self, scaler: &mut scaling::Context) {
        set_details(scaler, self.matrix.sws(), true, self.matrix.sws(), false);
    }
}

/// `sws_setColorspaceDetails`, which ffmpeg-next does not wrap: the source
/// side's matrix and range and the destination side's (only the YUV side's
/// matrix matters; RGB is always full range).
#[allow(unsafe_code)]
fn set_details(scaler: &mut scaling::Context, src: i32, src_full: bool, dst: i32, dst_full: bool) {
    // SAFETY: the context pointer is valid for the scaler's lifetime; the
    // coefficient tables are static data owned by libswscale; the call only
    // reads them and updates the context's tables. A context that cannot
    // take the details (e.g. RGB to RGB) returns an error code that leaves
    // it unchanged, which is what we want there.
    unsafe {
        let _ = ffmpeg_next::ffi::sws_setColorspaceDetails(
            scaler.as_mut_ptr(),
            ffmpeg_next::ffi::sws_getCoefficients(src),
            i32::from(src_full),
            ffmpeg_next::ffi::sws_getCoefficients(dst),
            i32::from(dst_full),
            0,
            1 << 16,
            1 << 16,
        );
    }
}
