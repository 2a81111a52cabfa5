// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ebml.h"

#include <bit>
#include <cassert>
#include <cstring>

namespace zcap::ebml {

size_t size_length(uint64_t value)
{
	// A field of n bytes carries 7n bits; the all-ones value is reserved.
	size_t n = 1;
	while (n < 8 && value >= (uint64_t(1) << (7 * n)) - 1)
		++n;
	return n;
}

void encode_size8(uint64_t value, std::byte *out)
{
	out[0] = std::byte{0x01};
	for (int i = 1; i < 8; ++i)
		out[i] = std::byte(value >> (8 * (7 - i)));
}

void Writer::big_endian(uint64_t value, size_t length)
{
	for (size_t i = length; i-- > 0;)
		out_.push_back(std::byte(value >> (8 * i)));
}

void Writer::patch_big_endian(size_t at, uint64_t value, size_t length)
{
	for (size_t i = 0; i < length; ++i)
		out_[at + i] = std::byte(value >> (8 * (length - 1 - i)));
}

void Writer::id(uint32_t value)
{
	size_t length = value > 0xFFFFFF ? 4 : value > 0xFFFF ? 3 : value > 0xFF ? 2 : 1;
	big_endian(value, length);
}

void Writer::size_field(uint64_t value, size_t length)
{
	if (length == 0)
		length = size_length(value);
	assert(length <= 8);
	big_endian(value | (uint64_t(1) << (7 * length)), length);
}

void Writer::uint(uint32_t element, uint64_t value)
{
	size_t length = value ? size_t(8 - std::countl_zero(value) / 8) : 1;
	id(element);
	size_field(length);
	big_endian(value, length);
}

void Writer::float64(uint32_t element, double value)
{
	id(element);
	size_field(8);
	big_endian(std::bit_cast<uint64_t>(value), 8);
}

void Writer::string(uint32_t element, std::string_view value)
{
	binary(element, std::as_bytes(std::span(value.data(), value.size())));
}

void Writer::binary(uint32_t element, std::span<const std::byte> value)
{
	id(element);
	size_field(value.size());
	raw(value);
}

size_t Writer::void_header(size_t total)
{
	assert(total >= 2);
	// The size field grows with the payload: pick the length whose
	// remaining payload it can hold.
	size_t length = 1;
	while (size_length(total - 1 - length) > length)
		++length;
	id(id::Void);
	size_field(total - 1 - length, length);
	return total - 1 - length;
}

void Writer::void_element(size_t total)
{
	size_t payload = void_header(total);
	out_.resize(out_.size() + payload, std::byte{0});
}

size_t Writer::begin_master(uint32_t element)
{
	id(element);
	size_t at = out_.size();
	out_.resize(at + kPatchableSizeLength);
	return at;
}

void Writer::end_master(size_t start)
{
	patch_size(start, out_.size() - start - kPatchableSizeLength);
}

void Writer::raw(std::span<const std::byte> data)
{
	out_.insert(out_.end(), data.begin(), data.end());
}

void Writer::patch_size(size_t at, uint64_t value)
{
	encode_size8(value, out_.data() + at);
}

} // namespace zcap::ebml
