"""The numbers every compliance check compares against, each with where it comes from.

Kept apart from the checks so a limit and its calibration note are read (and changed) in
one place, and the report's "source" column always names the same documents.

Sources: [9303] ICAO Doc 9303 (its portrait rules), [TR] ICAO Portrait Quality TR v1.0
(Tables 8-9), [OFIQ] BSI OFIQ 1.0.3 (Open Source Face Image Quality: the
BSI-OFIQ/OFIQ-Project source and its data/ofiq_config.jaxn). Where a source gives
a quality *score* rather than a pass/fail limit (OFIQ), or no number at all, the cut-off is
ours and is labelled "Portrait Lab calibration"; the calibration is described next to each
constant.
"""
from __future__ import annotations

from pipeline.faces.pose import PITCH_UNCERTAINTY_DEG

# --------------------------------------------------------------------------------------
# Sources (the text shown in the report's "source" column)
# --------------------------------------------------------------------------------------
SOURCE_ICAO_9303 = "ICAO Doc 9303"
SOURCE_TR_T8 = "ICAO TR Portrait Quality T8"
SOURCE_TR_T9 = "ICAO TR Portrait Quality T9"
SOURCE_TR = "ICAO TR Portrait Quality"
SOURCE_OFIQ_SINGLE_FACE = "OFIQ SingleFacePresent"
SOURCE_OFIQ_BACKGROUND = "OFIQ BackgroundUniformity"
SOURCE_OFIQ_EXPOSURE = "OFIQ Under/OverExposurePrevention, LuminanceMean, DynamicRange"
# OFIQ is the reference implementation of ISO/IEC 29794-5 (face image quality).
SOURCE_OFIQ_EYES_OPEN = "OFIQ EyesOpen (ISO/IEC 29794-5)"
SOURCE_OFIQ_MOUTH_CLOSED = "OFIQ MouthClosed (ISO/IEC 29794-5)"
SOURCE_OFIQ_HEAD_COVERINGS = "OFIQ NoHeadCoverings (ISO/IEC 29794-5)"
SOURCE_CALIBRATION = "Portrait Lab calibration"

# --------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------
# Faces: a second detection smaller than this share of the largest face's box area is
# probably a poster or a passer-by far behind; OFIQ's raw SingleFacePresent value is this
# same area ratio (0 best). Below it we warn instead of failing (Portrait Lab calibration).
SECOND_FACE_TINY_AREA_RATIO = 0.25

# Head height and eye line: outside the document's range by at most this fraction of the
# photo height -> warn (about 1 mm on a 45 mm photo: the size of landmark and matte-edge
# noise on the chin and the crown); further -> fail. Portrait Lab calibration.
PLACEMENT_TOLERANCE = 0.02
# The crown margin ranges are only a few mm wide (Japan 2-6 mm, China 3-5 mm), so their
# warn band is half as wide. Portrait Lab calibration.
CROWN_MARGIN_TOLERANCE = 0.01

# Face centre: eye midpoint 45-55 % of the width from the left [TR T9]; warn band 2 %.
CENTRE_RANGE = (0.45, 0.55)
CENTRE_TOLERANCE = 0.02

# Pose [TR T8]: roll <= 8 deg required, <= 5 deg best practice; yaw <= 5 deg. The 5-point
# yaw is only an estimate (nose offset), so 5-10 deg warns instead of failing.
ROLL_PASS_DEG = 5.0
ROLL_WARN_DEG = 8.0
YAW_PASS_DEG = 5.0
YAW_WARN_DEG = 10.0

# Pitch [TR T8]: <= 5 deg. The mesh's pitch rests on the forehead-to-chin line's neutral
# slant, which differs between faces by about +-4 deg (faces.pose.PITCH_UNCERTAINTY_DEG); the
# three frontal test portraits read +2.9 (astronaut), +2.6 (child) and -5.4 deg (young
# adult). So the TR's 5 deg is widened by that uncertainty before a photo stops passing
# (9 deg: the frontal -5.4 passes with 3.6 deg to spare), then the same 5 deg warning band as
# the yaw estimate; beyond 14 deg the head is past the TR limit whatever the face's slant.
PITCH_TR_DEG = 5.0
PITCH_PASS_DEG = PITCH_TR_DEG + PITCH_UNCERTAINTY_DEG
PITCH_WARN_DEG = PITCH_PASS_DEG + 5.0

# Inter-eye distance [TR T8]: >= 90 px required, >= 120 px best practice.
IED_PASS_PX = 120.0
IED_WARN_PX = 90.0

# Background region: matte below this is background; it is eroded by this fraction of the
# photo width so hair strands and the matte's soft edge are not counted (OFIQ erodes its
# parsing mask by 4 px at a 354 px working width, about 1 %; we take 2 % because a matte's
# edge is softer than a parsing map). Fewer background pixels than the minimum share -> not
# assessed.
BACKGROUND_MATTE_MAX = 0.1
BACKGROUND_EROSION_FRACTION = 0.02
BACKGROUND_MIN_SHARE = 0.01
# OFIQ BackgroundUniformity: mean Scharr gradient magnitude (cv::Sobel ksize -1) of the
# linearised Rec.709 luminance, on an image 354 px wide (OFIQ's working width for this
# measure; an ID photo's framing is close to OFIQ's aligned crop). OFIQ maps the raw value
# to a score 190 * (1 - sigmoid((x - 10) / 100)): 95 at 10, 76 at 50, 55 at 100.
# Cut-offs (Portrait Lab calibration, synthetic 35x45 mm portraits): a replaced, flat
# background measures 0; a plain wall with camera noise sigma 1.5 measures 17 at 650 dpi,
# 32 at 300 dpi and 37 at 150 dpi (less downsampling to 354 px leaves more noise); sigma
# 3.4 at 650 dpi 37; sigma 40 noise (a busy background) 259. Pass <= 50, warn <= 100.
BACKGROUND_WORK_WIDTH = 354
BACKGROUND_GRADIENT_PASS = 50.0
BACKGROUND_GRADIENT_WARN = 100.0
# Largest per-channel standard deviation of the background (0-255). Catches uneven light and
# large patterns that have few edges. A wall lit from one side that falls from 245 to 205
# across the frame measures 15 (warn); the plain test wall 1.7. Portrait Lab calibration.
BACKGROUND_STD_PASS = 10.0
BACKGROUND_STD_WARN = 20.0
# Background colour: CIEDE2000 between the background's median colour and the target (sRGB,
# D65). Photographed "white" walls are light greys: (240, 240, 240) is 3.3 from white,
# (230, 230, 230) 5.2, (210, 210, 210) 9.7, (200, 200, 200) 12.1, a mid-blue wall 37.
# Pass up to 6, warn up to 10, else fail. Portrait Lab calibration. When the document names
# no colour (white is only assumed) the result is at most a warning.
BACKGROUND_DELTA_E_PASS = 6.0
BACKGROUND_DELTA_E_WARN = 10.0
DEFAULT_BACKGROUND_RGB = (255, 255, 255)
# What a document states about the colour decides how a background is graded, whatever colour
# the user chose (background_checks.background_rule): a named colour (background_hex) with the
# cut-offs above; a document that asks only for a light colour ("light", "pale" in its own
# words) accepts any light colour with at most a warning and fails a dark one; a document
# whose words name no colour we can check ("white, blue or red by use", nothing) is graded
# against the chosen colour, at most a warning. Light means CIELAB L* >= 70: the light presets
# read 84.6 (light-blue) to 100, a photographed white wall at (200, 200, 200) 80.6 and at
# (180, 180, 180) 73.3; the strong presets 50.6 (red), 57.7 (blue), magenta 60.3, a mid-grey
# (160, 160, 160) 65.9. Portrait Lab calibration.
LIGHT_BACKGROUND_WORDS = ("light", "pale")
LIGHT_BACKGROUND_MIN_L = 70.0
# How a document's words forbid white (France: "white forbidden"; New Zealand: "not white").
WHITE_FORBIDDEN_WORDS = ("white forbidden", "not white")
WHITE_RGB = (255, 255, 255)

# Exposure [OFIQ]: share of face pixels with luminance 0-25 (under) and 247-255 (over), and
# the mean luminance, favoured in 0.2-0.8. OFIQ applies the bands to linearised luminance,
# where a correctly exposed dark-skinned face falls mostly below 25 (OFIQ offsets that
# with a sigmoid centred at 92 % under-exposed). Here the bands are applied to gamma-encoded
# luma (Rec.601, what the file stores), so they mean "crushed to black" / "clipped to white"
# for every skin tone. Share cut-offs: Portrait Lab calibration (pupils, nostrils and brows
# make a few per cent dark on a good photo; a specular highlight a per cent or two white).
UNDER_EXPOSED_LUMA = 25
OVER_EXPOSED_LUMA = 247
UNDER_SHARE_PASS = 0.05
UNDER_SHARE_WARN = 0.10
OVER_SHARE_PASS = 0.02
OVER_SHARE_WARN = 0.05
MEAN_LUMA_RANGE = (0.2, 0.8)
MEAN_LUMA_TOLERANCE = 0.1
# A face too dark (or too washed out) to be recognised fails, whatever the bands above say.
# Measured as OFIQ DynamicRange (ISO/IEC 29794-5): the entropy, in bits, of the face's
# 256-bin luminance histogram (OFIQ scores it 12.5 x bits). Computed on gamma-encoded luma,
# like the bands, so a correctly exposed dark-skinned face is not read as lacking range (in
# OFIQ's linear luminance its levels crowd near black). Calibration on the three test
# portraits, the photo (or only the person) darkened in linear light and, as phones do,
# with the blacks then lifted to 20: untouched faces read 6.6-7.0 bits; three stops under
# 5.1-5.6; the face detector lost a face at readings of 2.9-3.9 bits (some faces it still
# found down to 3.0), and the lifted faces it lost still had a mean luma of 0.13-0.18 and at
# most 4 % crushed pixels, so the bands above only warned. Fail below 4.5 bits: 0.6 bits
# (half again the spread of levels) above the highest reading at which a face was lost.
# Portrait Lab calibration; no dark-skinned test portrait was available for it.
FACE_DYNAMIC_RANGE_MIN_BITS = 4.5

# Sharpness: variance of the Laplacian (4-neighbour) of log-luma 100 * ln(1 + Y / 10) in the
# face region, after resampling the face so the eyes are 40 px apart (so the number does
# not depend on the face's size in pixels; the log makes it independent of skin tone and of
# the light level, which scale luma). Pixels within 1 px of clipped luma (<= 5 or >= 250)
# are left out: they carry no detail, and exposure is judged separately.
# Calibration on skimage's astronaut face (IED 42 px, face box 87 px wide): 442; after a
# Gaussian blur of sigma (at that size) 0.5 -> 223, 0.8 -> 74, 1.0 -> 41, 1.3 -> 20 (that is
# sigma 3 at a face width of 200 px), 2.0 -> 6; noise sigma 3 or JPEG quality 40 barely move
# it (449, 482); the face at half the brightness 335 (raw luma variance would drop 4x). The
# face enlarged to 200 px: 411, blurred with sigma 3: 20, sigma 1.5: 120. The synthetic test
# face: 653, blurred with sigma 3 at 200 px: 25. Pass >= 100, warn >= 50.
SHARPNESS_IED_PX = 40.0
SHARPNESS_LOG_OFFSET = 10.0
SHARPNESS_PASS = 100.0
SHARPNESS_WARN = 50.0
SHARPNESS_CLIPPED_LOW = 5
SHARPNESS_CLIPPED_HIGH = 250
SHARPNESS_MIN_PIXELS = 100

# Illumination balance [TR]: over the face zones the darkest zone's mean must be at least 50 %
# of the brightest, per channel. We compare the two cheeks (the zones that differ under side
# light) and warn already below 75 %, where the unevenness is plainly visible (Portrait Lab
# calibration); below the TR's 50 % it fails.
ILLUMINATION_PASS_RATIO = 0.75
ILLUMINATION_TR_MIN_RATIO = 0.5
# With the dense mesh the TR's zones are placed from it (face_measures.SHADOW_ZONES: the
# upper face between the eyes, both cheeks, the chin): squares this many IEDs from the centre
# to each side. The three test portraits measure 0.84-0.86 (worst channel, darkest zone over
# brightest) with them, so the 75 % warning line keeps a 9-point margin. The face darkened by
# 45 % right of the nose measures 0.47-0.58; above the nose tip (a brim's shade) 0.53-0.57,
# which the two cheek boxes alone pass at 0.86-0.97.
SHADOW_ZONE_HALF_SIZE_IED = 0.12
# Cheek zones, in units of the inter-eye distance (IED) and the eye-to-mouth distance:
# centred 55 % of the way from each eye to the mouth corner below it, 5 % IED outwards,
# with a half-size of 18 % IED (clear of the nose and the mouth).
CHEEK_DOWN_FRACTION = 0.55
CHEEK_OUTWARD_IED = 0.05
CHEEK_HALF_SIZE_IED = 0.18

# Face region for exposure and sharpness: an ellipse centred between the eye midpoint and
# the mouth midpoint, 0.9 IED wide on each side and one eye-to-mouth distance high on each
# side (brows to just below the mouth, cheek to cheek), turned with the roll.
FACE_REGION_HALF_WIDTH_IED = 0.9
FACE_REGION_HALF_HEIGHT_EYE_MOUTH = 1.0

# Eyes open [9303: eyes open, pupils visible]. OFIQ EyesOpen's raw value: the smaller eye's
# largest lid-to-lid distance over T (eye midpoint to chin); OFIQ scores it with a sigmoid
# centred at 0.02 (score 50; 0.03 -> 73, 0.05 -> 95). Measured with the mesh: open eyes on the
# three test portraits 0.081 (young adult), 0.090 (astronaut), 0.108 (child); the same eyes
# painted shut 0.016, 0.028 and 0.030 (the mesh never closes the lids fully, so OFIQ's 0.02
# centre would pass two of the three). Pass >= 0.05 (0.031 below the least open real eye),
# warn >= 0.04 (half-closed), fail below (0.01 above the most open closed eye).
EYES_OPEN_PASS = 0.05
EYES_OPEN_WARN = 0.04

# Mouth closed [9303: neutral expression, mouth closed]. OFIQ MouthClosed's raw value: the
# largest inner-lip gap over T; OFIQ's inverse sigmoid is centred at 0.20 (a gaping mouth), so
# it scores a toothy smile near 85 of 100, while ICAO asks for closed lips. Measured: closed
# mouths 0.002 (child, young adult); the astronaut's smile with teeth showing 0.094; a dark
# opening painted between the closed lips 0.065 (child) and 0.073 (young adult). Pass <= 0.02 (ten times the closed reading),
# warn <= 0.05 (lips slightly parted), fail beyond (lips apart, teeth or mouth visible):
# Portrait Lab calibration under ICAO's rule, a quarter of OFIQ's centre.
MOUTH_OPEN_PASS = 0.02
MOUTH_OPEN_WARN = 0.05
OFIQ_MOUTH_CLOSED_CENTRE = 0.20

# Gaze [9303: looking at the camera; no number in the sources]: the irises' mean offset from
# the middle between each eye's corners, as a share of the eye's width. The three test
# portraits read -0.014 to +0.026 (single eyes up to 0.036); irises moved sideways by a fifth
# of the eye's width read 0.12-0.18. About 0.06 is a 9 deg glance (eyeball radius 12 mm, eye
# 30 mm wide). Pass <= 0.06, warn <= 0.10 (about 15 deg), fail beyond. Portrait Lab
# calibration.
GAZE_PASS = 0.06
GAZE_WARN = 0.10

# Glasses and head coverings, from face parsing on the aligned 512 px crop (FFHQ template:
# eyes at 47 % of its height, mouth at 72 %). Glasses: ICAO allows clear glasses without
# glare, some documents (the US) none, so glasses are a warning, never a failure; found when
# more than 1 % of the eye band (rows 38-58 %, columns 15-85 % of the crop) is parsed as
# glasses (rims 5 px wide around both eyes on the crop cover 12 %). Portrait Lab calibration,
# not measured on real parsings here: the parser needs downloaded weights.
GLASSES_EYE_BAND = ((0.38, 0.58), (0.15, 0.85))
GLASSES_SHARE_WARN = 0.01
# Head covering [9303: none, except for religious reasons]: OFIQ NoHeadCoverings counts hat
# and cloth pixels in the upper part of its parsing image (it leaves out the bottom rows with
# the lower face and the clothes) and fails above a 0.02 share (its default threshold). Here
# the upper part is the rows above the mouth on the aligned crop.
HEAD_COVERING_MAX_SHARE = 0.02

# Compression [TR]: JPEG compression ratio (W * H * 3 / file bytes) at most 15:1; the US
# DoS allows 20:1. A warning only: a document's own maximum file size can force more.
COMPRESSION_PASS_RATIO = 15.0
# The ratio stands in for the JPEG quality, and a painted plain background takes almost no
# bytes: the three test portraits made for icao_generic on white read 10.3-13.7:1 at quality
# 95 and 14.4-19.8:1 at 90, but on a painted blue background 12.0-20.7:1 already at 95. So a
# file saved here at quality 90 or more passes whatever its ratio (Portrait Lab calibration);
# below that the warning names the KB limit that forced the quality down.
COMPRESSION_QUALITY_PASS = 90
# Resolution [TR]: the camera capture should be at least 1200 x 1600 px after cropping;
# informational here, because the document's print file size is the binding rule.
ICAO_CAPTURE_MIN_PX = (1200, 1600)
BYTES_PER_KB = 1024
