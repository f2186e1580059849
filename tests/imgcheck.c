/*
 * imgcheck: decode each named PNG or JPEG whole, with libpng and libjpeg,
 * and print "ok WxH FILE" or "bad FILE: why".  A file that only looks like
 * an image (the right first bytes, an IEND at the end) but has a broken
 * chunk, a bad CRC or a short compressed stream is bad.  Exits 0 when every
 * file was whole, 1 when one was not, 2 on usage.
 * -p adds a hash of the decoded pixels ("ok WxH HASH FILE"), so that two
 * files can be shown to hold the same image; -t prints, before the "ok",
 * each file's text: a PNG's tEXt, zTXt and iTXt chunks as read by libpng ("KEY
 * TEXT", a tab between), a JPEG's COM segments ("COM TEXT").
 */
#include <err.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

static int pixels, texts;               /* -p, -t */
static unsigned long long hash;         /* of the pixels last decoded */

/* FNV-1a: enough to tell two images' pixels apart. */
static void
hash_add(const unsigned char *p, size_t n)
{
	while (n-- > 0)
		hash = (hash ^ *p++) * 0x100000001b3ULL;
}

/* Every text chunk of a PNG, through libpng's own reader. */
static void
png_texts(const char *path)
{
	png_structp png;
	png_infop info;
	png_textp t;
	FILE *f;
	int i, n;

	if ((f = fopen(path, "rb")) == NULL)
		return;
	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png_create_info_struct(png);
	if (setjmp(png_jmpbuf(png)) == 0) {
		png_init_io(png, f);
		png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
		n = png_get_text(png, info, &t, NULL);
		for (i = 0; i < n; i++)
			printf("%s\t%s\n", t[i].key, t[i].text);
	}
	png_destroy_read_struct(&png, &info, NULL);
	fclose(f);
}

static int
png_check(const char *path, char *why, size_t n)
{
	png_image im;
	png_bytep buf;
	int ok;

	memset(&im, 0, sizeof(im));
	im.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_file(&im, path)) {
		snprintf(why, n, "%s", im.message);
		return -1;
	}
	im.format = PNG_FORMAT_RGBA;
	if ((buf = malloc(PNG_IMAGE_SIZE(im))) == NULL)
		err(2, "malloc");
	ok = png_image_finish_read(&im, NULL, buf, 0, NULL);
	hash = 0xcbf29ce484222325ULL;
	hash_add(buf, PNG_IMAGE_SIZE(im));
	free(buf);
	if (!ok || (im.warning_or_error & PNG_IMAGE_ERROR)) {
		snprintf(why, n, "%s", im.message);
		png_image_free(&im);
		return -1;
	}
	/* A warning (a CRC, trailing data) is a fault here, too. */
	if (im.warning_or_error != 0) {
		snprintf(why, n, "warning: %s", im.message);
		png_image_free(&im);
		return -1;
	}
	snprintf(why, n, "%ux%u", im.width, im.height);
	png_image_free(&im);
	return 0;
}

struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	int warned;
};

static void
jpeg_fail(j_common_ptr c)
{
	longjmp(((struct jerr *)c->err)->jb, 1);
}

static void
jpeg_note(j_common_ptr c, int level)
{
	/* Corrupt data is reported at level -1: a fault here. */
	if (level < 0)
		((struct jerr *)c->err)->warned = 1;
}

static int
jpeg_check(const char *path, char *why, size_t n)
{
	struct jpeg_decompress_struct d;
	struct jerr je;
	JSAMPARRAY row;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(why, n, "cannot open");
		return -1;
	}
	d.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = jpeg_fail;
	je.pub.emit_message = jpeg_note;
	je.warned = 0;
	if (setjmp(je.jb)) {
		(*d.err->format_message)((j_common_ptr)&d, why);
		jpeg_destroy_decompress(&d);
		fclose(f);
		return -1;
	}
	jpeg_create_decompress(&d);
	jpeg_stdio_src(&d, f);
	jpeg_save_markers(&d, JPEG_COM, 0xffff);
	jpeg_read_header(&d, TRUE);
	if (texts) {
		jpeg_saved_marker_ptr m;

		for (m = d.marker_list; m != NULL; m = m->next)
			printf("COM\t%.*s\n", (int)m->data_length,
			    (const char *)m->data);
	}
	hash = 0xcbf29ce484222325ULL;
	jpeg_start_decompress(&d);
	row = (*d.mem->alloc_sarray)((j_common_ptr)&d, JPOOL_IMAGE,
	    d.output_width * d.output_components, 1);
	while (d.output_scanline < d.output_height) {
		jpeg_read_scanlines(&d, row, 1);
		hash_add(row[0], d.output_width * d.output_components);
	}
	jpeg_finish_decompress(&d);
	if (je.warned)
		snprintf(why, n, "corrupt data");
	else
		snprintf(why, n, "%ux%u", d.output_width, d.output_height);
	jpeg_destroy_decompress(&d);
	fclose(f);
	return je.warned ? -1 : 0;
}

int
main(int argc, char *argv[])
{
	unsigned char magic[4];
	char why[JMSG_LENGTH_MAX + 64];
	FILE *f;
	int i, bad = 0, rc;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-p") == 0)
			pixels = 1;
		else if (strcmp(argv[i], "-t") == 0)
			texts = 1;
		else
			break;
	}
	if (i >= argc) {
		fputs("usage: imgcheck [-p] [-t] file ...\n", stderr);
		return 2;
	}
	for (; i < argc; i++) {
		memset(magic, 0, sizeof(magic));
		if ((f = fopen(argv[i], "rb")) == NULL) {
			printf("bad %s: cannot open\n", argv[i]);
			bad = 1;
			continue;
		}
		if (fread(magic, 1, sizeof(magic), f) != sizeof(magic))
			magic[0] = 0;
		fclose(f);
		if (memcmp(magic, "\x89PNG", 4) == 0) {
			rc = png_check(argv[i], why, sizeof(why));
			if (texts)
				png_texts(argv[i]);
		} else if (magic[0] == 0xff && magic[1] == 0xd8)
			rc = jpeg_check(argv[i], why, sizeof(why));
		else {
			snprintf(why, sizeof(why), "neither PNG nor JPEG");
			rc = -1;
		}
		if (rc == 0 && pixels)
			printf("ok %s %016llx %s\n", why, hash, argv[i]);
		else if (rc == 0)
			printf("ok %s %s\n", why, argv[i]);
		else {
			printf("bad %s: %s\n", argv[i], why);
			bad = 1;
		}
	}
	return bad;
}
