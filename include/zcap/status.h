// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>
#include <system_error>

namespace zcap {

/// The outcome of an operation at a system boundary: an errno-based code plus
/// the context a user needs to act on it ("write /mnt/a.raw: No space left on
/// device"). A default-constructed Status is success.
class Status {
public:
	Status() = default;
	Status(std::error_code code, std::string context)
	    : code_(code), context_(std::move(context))
	{
	}

	/// A failure from a positive errno value.
	static Status from_errno(int err, std::string context)
	{
		return {std::error_code(err, std::system_category()), std::move(context)};
	}
	/// A failure that is not an errno (bad input): carries EINVAL, in the
	/// generic category so that message() knows the text says it all.
	static Status invalid(std::string message)
	{
		return {std::make_error_code(std::errc::invalid_argument), std::move(message)};
	}

	/// The same failure with "@p prefix: " in front of its context.
	Status prefixed(const std::string &prefix) const
	{
		if (ok())
			return *this;
		return {code_, context_.empty() ? prefix : prefix + ": " + context_};
	}

	bool ok() const noexcept { return !code_; }
	explicit operator bool() const noexcept { return ok(); }
	std::error_code code() const noexcept { return code_; }

	/// One line for the user: the context followed by the system's reason.
	std::string message() const
	{
		if (ok())
			return "ok";
		if (code_ == std::make_error_code(std::errc::invalid_argument) && !context_.empty())
			return context_; // from invalid(): no system reason to add
		return context_.empty() ? code_.message() : context_ + ": " + code_.message();
	}

private:
	std::error_code code_;
	std::string context_;
};

} // namespace zcap
