/* SPDX-License-Identifier: MIT */
/*
 * with-libpng - libpng only takes a FILE* (png_init_io): give it a spool.
 * Writes an RGBA image as PNG into the spool, rewinds, reads it back
 * through the same FILE* and compares every pixel.
 *
 * Usage: with-libpng [SIZE [THRESHOLD]]   (defaults: 64 pixels, 4096 bytes)
 */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"

/* Pixels that do not compress well, so the PNG passes the threshold. */
static png_bytep make_image(png_uint_32 size)
{
	png_bytep px = malloc((size_t)size * size * 4);
	unsigned long x = 12345;

	if (px == NULL)
		return NULL;
	for (size_t i = 0; i < (size_t)size * size * 4; i++) {
		x = x * 1103515245 + 12345;
		px[i] = (png_byte)(x >> 16);
	}
	return px;
}

/*
 * The setjmp is kept in functions whose locals do not change after it,
 * so a longjmp from libpng cannot leave them clobbered.
 */
static int write_png(FILE *fp, png_bytep px, png_uint_32 size)
{
	png_structp png;
	png_infop info;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	if (png == NULL)
		return -1;
	info = png_create_info_struct(png);
	if (info == NULL || setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_init_io(png, fp);
	png_set_IHDR(png, info, size, size, 8, PNG_COLOR_TYPE_RGB_ALPHA,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
		     PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (png_uint_32 y = 0; y < size; y++)
		png_write_row(png, px + (size_t)y * size * 4);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return 0;
}

/* Returns 1 when the PNG in fp is exactly px, 0 when not, -1 on error. */
static int read_png(FILE *fp, png_bytep px, png_uint_32 size)
{
	png_structp png;
	png_infop info;
	png_bytepp rows;
	int same;

	png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	if (png == NULL)
		return -1;
	info = png_create_info_struct(png);
	if (info == NULL || setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		return -1;
	}
	png_init_io(png, fp);
	png_read_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
	same = png_get_image_width(png, info) == size &&
	       png_get_image_height(png, info) == size &&
	       png_get_color_type(png, info) == PNG_COLOR_TYPE_RGB_ALPHA &&
	       png_get_bit_depth(png, info) == 8;
	rows = png_get_rows(png, info);
	for (png_uint_32 y = 0; same && y < size; y++)
		same = memcmp(rows[y], px + (size_t)y * size * 4,
			      (size_t)size * 4) == 0;
	png_destroy_read_struct(&png, &info, NULL);
	return same;
}

int main(int argc, char **argv)
{
	png_uint_32 size = argc > 1 ? (png_uint_32)atol(argv[1]) : 64;
	size_t threshold = argc > 2 ? strtoul(argv[2], NULL, 0) : 4096;
	png_bytep px = make_image(size);
	FILE *fp = spool_fopen(threshold, "w+b");
	off_t bytes;
	int rolled, same;

	if (px == NULL || fp == NULL || size == 0) {
		perror("with-libpng");
		return 1;
	}
	if (write_png(fp, px, size) != 0) {
		fprintf(stderr, "with-libpng: writing the PNG failed\n");
		return 1;
	}
	bytes = spool_size(fp);
	rolled = spool_is_rolled(fp);
	rewind(fp);
	same = read_png(fp, px, size);
	free(px);
	if (fclose(fp) != 0 || same < 0 || bytes < 0) {
		fprintf(stderr, "with-libpng: reading the PNG back failed\n");
		return 1;
	}
	printf("with-libpng: wrote a %ux%u RGBA PNG of %lld bytes, %s "
	       "(threshold %zu); read back: %s\n",
	       (unsigned)size, (unsigned)size, (long long)bytes,
	       rolled ? "spilled to disk" : "kept in memory", threshold,
	       same ? "all pixels equal" : "PIXELS DIFFER");
	return same ? 0 : 1;
}
